"""From a question to cited passages and an answer sentence: retrieval, fusion, near-duplicates, confidence."""
