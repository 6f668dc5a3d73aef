from django.urls import URLPattern, URLResolver

app_name = "metadata"
urlpatterns: list[URLPattern | URLResolver] = []
