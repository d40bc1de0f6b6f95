"""Model: Transformer-XL relative attention, recurrence memory, and the ERNIE 3.0 universal + task networks."""
