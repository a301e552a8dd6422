"""The interactive API documentation, `/docs` (Swagger UI) and `/redoc` (ReDoc), served from
this origin alone: their scripts and styles are the service's own copies (`make assets` puts
them in web/static/build/docs), Swagger UI starts from a static script (no inline script), and
nothing is asked of any other host, so both work without the internet."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

STATIC = "/ui/static"
VENDORED = f"{STATIC}/build/docs"
SWAGGER_PATH = "/docs"
REDOC_PATH = "/redoc"
PATHS = (SWAGGER_PATH, REDOC_PATH)

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="icon" href="{STATIC}/favicon.svg" type="image/svg+xml">\n'
        f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


@router.get(SWAGGER_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    openapi_url = escape(request.app.openapi_url or "")
    return _page(
        f"{request.app.title} API: Swagger UI",
        f'<link rel="stylesheet" href="{VENDORED}/swagger-ui.css">\n',
        f'<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>\n'
        f'<script src="{VENDORED}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{STATIC}/swagger-init.js"></script>\n',
    )


@router.get(REDOC_PATH)
def redoc(request: Request) -> HTMLResponse:
    openapi_url = escape(request.app.openapi_url or "")
    return _page(
        f"{request.app.title} API: ReDoc",
        "",
        f'<redoc spec-url="{openapi_url}"></redoc>\n'
        f'<script src="{VENDORED}/redoc.standalone.js"></script>\n',
    )
