"""URLs of the demo's Django project."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse


def index(request: HttpRequest) -> HttpResponse:
    report = reverse("report", args=[2024])
    return HttpResponse(
        "<!doctype html><title>legacy</title><h1>Django legacy site</h1>"
        f'<a id="report" href="{report}">report 2024</a>'
    )


def report(request: HttpRequest, year: int) -> JsonResponse:
    return JsonResponse({"app": "django", "year": year, "self": reverse("report", args=[year])})


def echo(request: HttpRequest) -> JsonResponse:
    """What a request brought: the cascade tests send bodies here."""
    return JsonResponse({"app": "django", "method": request.method, "body": len(request.body)})


urlpatterns = [
    path("", index, name="index"),
    path("reports/<int:year>/", report, name="report"),
    path("echo/", echo, name="echo"),
]
