from django.urls import path
from django.urls import re_path

from image_importer.dashboards.project.image_imports import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(r'^create/$', views.CreateView.as_view(), name='create'),
    re_path(r'^bulk/$', views.ImportManyView.as_view(), name='bulk'),
    re_path(r'^check/$', views.CheckURLView.as_view(), name='check'),
    re_path(r'^notices/$', views.NoticesView.as_view(), name='notices'),
    path('<uuid:job_id>/', views.DetailView.as_view(), name='detail'),
]
