"""The ladders (codified runbooks) and the engine that walks them."""
