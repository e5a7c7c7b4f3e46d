"""Op definitions: each op's parameters, shape/dtype rule and NumPy reference, in one place."""
