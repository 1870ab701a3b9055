"""Inference core: numpy and OpenCV only. Never imports torch or rclpy."""
