"""Attacks and faults against the receiver and the sender (issue 8), each reproduced and handled."""
