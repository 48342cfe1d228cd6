"""Durable storage of comments and their predictions (SQLite by default, or PostgreSQL).

``database`` opens the engine and runs the migrations; ``models`` are the tables;
``repository`` the plain functions the service calls on a connection.
"""
