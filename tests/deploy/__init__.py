"""The deployment files (Dockerfile, deploy/): what they name exists, what they run is valid."""
