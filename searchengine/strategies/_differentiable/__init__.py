"""The parts of the ``differentiable`` strategy: relaxed modules, the supernet, training."""
