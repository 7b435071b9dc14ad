"""YOLO txt labels (ultralytics, Roboflow, Darknet layouts): syntax, reader, writer and checks."""
