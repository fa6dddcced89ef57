"""Website tracking: the JavaScript snippet, page views under an anonymous visitor id, and
signed identify links."""
