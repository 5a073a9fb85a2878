"""The search side: parameter spaces, constraints and samplers (Optuna for studies); knows nothing of Ray."""
