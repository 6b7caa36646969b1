"""The operator endpoints: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for a load balancer.

``/healthz`` (liveness) answers from the process alone and never touches the database:
a database outage must not make an orchestrator restart every API process, which
would not help. ``/readyz`` (readiness) asks the store a cheap question and checks the
schema is the one this code needs, so a load balancer stops sending requests to a
process that could only fail them, and sends them again once the database is back.

None of the three needs a token: they are for the machines that run the service
(scrapers, load balancers), they hold counts and no personal data, and a probe
that needs a secret is one more thing that breaks. Keep them off the public network
if the counts themselves are sensitive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

if TYPE_CHECKING:
    from beslut.api.metrics import ApiMetrics

router = APIRouter(tags=["operations"])

#: The problem type of a 503 from /readyz (RFC 9457; the same ``urn:beslut:problem:`` prefix as the API's errors).
NOT_READY_TYPE = "urn:beslut:problem:not-ready"


def _metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Commands, refusals and request latency seen by this process, plus gauges read from the database.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}}},
)
async def metrics(request: Request) -> Response:
    """Every metric, as text or OpenMetrics by the Accept header (the database gauges are read now)."""
    body, content_type = await run_in_threadpool(_metrics(request).render, request.headers.get("accept"))
    return Response(content=body, headers={"Content-Type": content_type})


@router.get("/healthz", summary="Liveness", description="200 while the process serves requests; no database query.")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    description="200 when the database answers and its schema is current; 503 with the reason otherwise.",
    responses={503: {"description": "The database is unreachable, gone, or its schema is not current."}},
)
async def readyz(request: Request) -> Any:
    """Ready when the store answers a cheap query and its schema is current."""
    problem = await run_in_threadpool(_metrics(request).store.readiness_problem)
    if problem is None:
        return {"status": "ready"}
    body = {"type": NOT_READY_TYPE, "title": "The service cannot serve requests now", "status": 503, "detail": problem}
    return JSONResponse(body, status_code=503, media_type="application/problem+json")


__all__ = ["router"]
