"""HTTP routes: thin translations between requests and the service's modules."""
