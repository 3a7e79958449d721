"""``/token/login``, ``/token/refresh`` and ``/token/logout``: the only routes open without a token.

Bodies are JSON or form-encoded (the OAuth2 password form the interactive docs send). Token
answers carry ``Cache-Control: no-store``. Validation errors never echo the input back, since the
input holds a password or a token.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tickmesh.api import login as flows
from tickmesh.api.auth import PASSWORD_MAX
from tickmesh.api.deps import Ctx, client_of
from tickmesh.api.schemas import Reason, TokenOut

router = APIRouter(prefix="/token", tags=["authentication"])
B = TypeVar("B", bound=BaseModel)
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginIn(BaseModel):
    """Other OAuth2 form fields (grant_type, scope, client_id) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    refresh_token: str = Field(min_length=1, max_length=256)


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    kinds = ("application/json", "application/x-www-form-urlencoded")
    content = {kind: {"schema": schema} for kind in kinds}
    return {"requestBody": {"required": True, "content": content}}


async def _read(request: Request, model: type[B]) -> B:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data: Any = await request.json()
        except ValueError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="body is not JSON") from None
    elif kind in _FORMS:
        form = await request.form(max_files=0, max_fields=20)
        data = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="send application/json or application/x-www-form-urlencoded",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Reason, "description": "the body is not JSON"},
    401: {"model": Reason, "description": "refused, with the reason"},
    422: {"description": "malformed body (the input is not echoed)"},
}


@router.post(
    "/login",
    openapi_extra=_body_doc(LoginIn),
    responses={**_REFUSALS, 429: {"model": Reason, "description": "throttled; see Retry-After"}},
)
async def login(request: Request, response: Response, ctx: Ctx) -> TokenOut:
    """Trade a username and password for an access token and a refresh token."""
    body = await _read(request, LoginIn)
    _no_store(response)
    return await flows.login(ctx, body.username, body.password, client_of(request))


@router.post("/refresh", openapi_extra=_body_doc(RefreshIn), responses=_REFUSALS)
async def refresh(request: Request, response: Response, ctx: Ctx) -> TokenOut:
    """Trade a refresh token for a new pair; the old refresh token is used up. Presenting a used
    refresh token revokes every token of its login."""
    body = await _read(request, RefreshIn)
    _no_store(response)
    return await flows.refresh(ctx, body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=_body_doc(RefreshIn),
    responses={400: _REFUSALS[400], 422: _REFUSALS[422]},
)
async def logout(request: Request, ctx: Ctx) -> None:
    """Revoke the refresh token and every token of its login (an unknown token is ignored)."""
    body = await _read(request, RefreshIn)
    await flows.logout(ctx, body.refresh_token)
