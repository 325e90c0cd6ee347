"""What researchers write: factors (their own indicators) and screens.

Internal: the public API is what ``technic_nb`` exports."""
