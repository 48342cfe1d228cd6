"""Typed dependencies that routes declare: the runtime, its settings, an API-key check.

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency
on its threadpool, a thread hop for each of them on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from service.auth import check_bearer
from service.runtime import Runtime
from service.settings import Settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_api_key(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    check_bearer(authorization, settings.api_keys)


Authenticated = Depends(require_api_key)
