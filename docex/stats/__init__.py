"""Network statistics (issue 15): per agency and day, what the supervision centre watches."""
