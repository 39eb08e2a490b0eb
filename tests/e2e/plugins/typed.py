"""A plugin of the type PLUGIN_CLASS names (ExportPlugin, ModelPlugin, ...), for tests of
what the hub says to a process whose type is not its plugin's."""

import os

import ango_plugins_sdk
from ango_plugins_sdk import run


def answer(job: object) -> dict:
    return {}


if __name__ == "__main__":
    plugin_class = getattr(ango_plugins_sdk, os.environ["PLUGIN_CLASS"])
    run(plugin_class(callback=answer))
