from django.urls import path

from memapp import views

urlpatterns = [
    path("leak", views.leaky_view),
    path("ok", views.ok_view),
    path("stats", views.stats_view),
]
