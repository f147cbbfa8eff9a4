"""devices/drivers"""
