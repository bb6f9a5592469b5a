"""Running the server's full topology: services from Debian packages (PostGIS, Redis), web replicas, workers."""
