"""Realistic stand-ins for the ERP, WMS and service platform; never imports app code."""
