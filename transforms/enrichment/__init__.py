"""What is added to clean text: language and topic."""
