from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "registry"
urlpatterns: list[URLPattern | URLResolver] = [
    path("oai", views.oai_pmh, name="oai"),
    path("coverage/<str:schema>/<str:table>.<str:fmt>", views.coverage_dispatch, name="coverage"),
]
