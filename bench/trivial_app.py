"""The baseline for the hub's HTTP path: a trivial Starlette JSON endpoint under uvicorn with
the hub's own HTTP settings (httptools). It parses the body and answers 202 with JSON, as
a submit does, and nothing else.

    python bench/trivial_app.py PORT
"""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def submit(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"id": "x", "status": "queued", "config": body.get("config")}, 202)


app = Starlette(routes=[Route("/submit", submit, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", log_level="warning")
