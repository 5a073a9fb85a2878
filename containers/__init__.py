"""One backtest, no Ray and no Optuna: data, events, scoped buses, components, engine, metrics."""
