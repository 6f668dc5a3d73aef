from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "conesearch"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("<str:schema>/<str:table>", views.search, name="search"),
]
