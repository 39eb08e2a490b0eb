"""A job's config checked against the plugin's `config_model`: one clause per problem."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ango_plugins_sdk import CustomPlugin, InvalidConfig


class Storage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str
    region: str = "eu"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    mode: Literal["fast", "exact"] = "fast"
    sizes: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    storage: Storage | None = None
    label_text: str = Field(default="", alias="label")

    @model_validator(mode="after")
    def _exact_needs_sizes(self) -> Config:
        if self.mode == "exact" and not self.sizes:
            raise ValueError("mode exact needs sizes")
        return self


def _plugin(model: type[BaseModel] = Config) -> CustomPlugin[BaseModel]:
    return CustomPlugin(callback=lambda job: None, config_model=model)


def _problem(config: dict[str, object]) -> str:
    with pytest.raises(InvalidConfig) as caught:
        _plugin().parse_config(config)
    message = str(caught.value)
    assert message.startswith("invalid config: ")
    assert "\n" not in message
    return message.removeprefix("invalid config: ")


def test_a_valid_config_becomes_the_model_and_without_one_stays_a_dict() -> None:
    assert _plugin().parse_config({"sizes": [2], "label": "x"}) == Config(sizes=[2], label="x")
    raw = {"anything": [1]}
    assert CustomPlugin(callback=lambda job: None).parse_config(raw) is raw


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"mode": "slow"}, "mode should be 'fast' or 'exact', got \"slow\""),
        ({"sizes": [3, 0]}, "sizes[1] should be greater than or equal to 1, got 0"),
        ({"sizes": "3"}, 'sizes should be a valid list, got "3"'),
        ({"storage": {}}, "storage.bucket is required"),
        ({"storage": {"bucket": "b", "zone": 1}}, "unknown key 'storage.zone'"),
        ({"mode": "exact"}, "mode exact needs sizes"),
        ({"label": 7}, "label should be a valid string, got 7"),
        ({"sizes": ["x" * 100]}, f'sizes[0] should be a valid integer, got "{"x" * 76}...'),
    ],
    ids=[
        "literal",
        "list-item",
        "wrong-type",
        "nested-missing",
        "nested-unknown-key",
        "model-validator",
        "alias",
        "long-value-cut",
    ],
)
def test_each_problem_names_the_key_what_is_wrong_and_what_was_sent(
    config: dict[str, object], problem: str
) -> None:
    assert _problem(config) == problem


def test_unknown_keys_get_the_closest_known_one_and_the_list_once() -> None:
    assert _problem({"mdoe": "fast", "colour": 1}) == (
        "unknown key 'mdoe' (did you mean 'mode'?); unknown key 'colour'; "
        "known keys: mode, sizes, storage, label"
    )


def test_every_problem_is_listed() -> None:
    assert _problem({"mode": 1, "sizes": [0]}) == (
        "mode should be 'fast' or 'exact', got 1; "
        "sizes[0] should be greater than or equal to 1, got 0"
    )


def test_a_value_json_cannot_show_is_shown_as_python_would() -> None:
    class Limits(BaseModel):
        ratio: float = 1.0

    with pytest.raises(InvalidConfig, match=r"ratio should be a valid number.*, got b'x'$"):
        _plugin(Limits).parse_config({"ratio": b"x"})


def test_a_root_problem_says_the_config() -> None:
    with pytest.raises(InvalidConfig, match=r"^invalid config: the config should be a valid"):
        _plugin().parse_config([1])  # type: ignore[arg-type]  # what a caller could pass
