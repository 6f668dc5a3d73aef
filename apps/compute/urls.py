from django.urls import URLPattern, URLResolver

app_name = "compute"
urlpatterns: list[URLPattern | URLResolver] = []
