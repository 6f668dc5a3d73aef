"""UWS 1.1 (IVOA Universal Worker Service), pure Python: no Django import."""
