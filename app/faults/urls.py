"""Routes for /api/faults/."""

from django.urls import path

from app.faults.views import FaultSwitchView

urlpatterns = [path("faults/", FaultSwitchView.as_view(), name="faults")]
