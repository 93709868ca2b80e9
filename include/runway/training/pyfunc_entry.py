"""Model-from-code entry point that MLflow copies into every logged flight-delay model."""

import mlflow

from runway.training.pyfunc import FlightDelayModel

mlflow.models.set_model(FlightDelayModel())
