from django.urls import path
from django.urls import re_path

from image_importer.dashboards.admin.image_imports import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    path('<uuid:job_id>/', views.DetailView.as_view(), name='detail'),
]
