"""Business rules: they import models, never blueprints."""
