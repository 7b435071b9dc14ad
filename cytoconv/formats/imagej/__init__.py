"""ImageJ/Fiji ROI sets (``RoiSet.zip``, ``<stem>.zip``, ``<stem>_rois.zip``, folders of ``.roi`` files)."""
