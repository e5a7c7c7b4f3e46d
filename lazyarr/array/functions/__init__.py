"""The namespace functions of the standard, grouped as the standard groups them."""
