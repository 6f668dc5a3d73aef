from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "registry"
urlpatterns: list[URLPattern | URLResolver] = [
    path("oai", views.oai_pmh, name="oai"),
]
