from django.urls import URLPattern, URLResolver

app_name = "tap"
urlpatterns: list[URLPattern | URLResolver] = []
