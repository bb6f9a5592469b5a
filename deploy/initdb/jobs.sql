-- The job records live in a database of their own beside the features (compose.yaml: OCSGE_JOBS).
CREATE DATABASE ocsge_jobs OWNER ocsge;
\connect ocsge
CREATE EXTENSION IF NOT EXISTS postgis;
