"""What is done about a report: departments, the case and its workflow, routing."""
