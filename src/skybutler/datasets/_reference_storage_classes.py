"""The reference butler's storage classes, known here by name so that any of its exports imports.

Every name in the reference's default storage-class configuration (``configs/storageClasses.yaml`` of
``lsst-daf-butler``) that we do not define ourselves is listed in `REFERENCE_STORAGE_CLASSES` with the
reference's Python type and, where we can read its files, the storage class of ours it reads as:

* **mapped** (``ExposureF`` → ``Exposure``, ``SourceCatalog`` → ``AstropyTable``, ...): the storage class
  has our type, components and parameters, so ``get`` returns our astronomy types and tables (files the
  reference wrote are read by the ``afw_fits``, ``parquet``, ``json`` or ``yaml`` formatters);
* **opaque** (``SkyMap``, ``Psf``, ``Config``, ...): no reader here.  Datasets are registered, queried and
  transferred byte for byte; ``get`` says which reference type would be needed and offers the file's URI
  and ``get(..., storage_class="Bytes")``, a read of its raw bytes.

The objects are made on first use (this module's ``__getattr__``), as the plug-in registry asks for them.
"""

from __future__ import annotations

from skybutler.datasets._storage_class import StorageClass

__all__ = ["REFERENCE_STORAGE_CLASSES", "reference_storage_class"]

#: Reference name → (our storage class it reads as, "" when opaque; the reference's Python type).
REFERENCE_STORAGE_CLASSES: dict[str, tuple[str, str]] = {
    "ArrowAstropy": ("AstropyTable", "astropy.table.Table"),
    "ArrowColumnList": ("StructuredDataList", "list"),
    "ArrowNumpy": ("NumpyStructuredArray", "numpy.ndarray"),
    "AstropyQTable": ("AstropyTable", "astropy.table.QTable"),
    "Catalog": ("AstropyTable", "lsst.afw.table.BaseCatalog"),
    "DecoratedImage": ("Image", "lsst.afw.image.DecoratedImage"),
    "DecoratedImageU": ("Image", "lsst.afw.image.DecoratedImageU"),
    "ExposureCatalog": ("AstropyTable", "lsst.afw.table.ExposureCatalog"),
    "ExposureD": ("Exposure", "lsst.afw.image.ExposureD"),
    "ExposureF": ("Exposure", "lsst.afw.image.ExposureF"),
    "ExposureI": ("Exposure", "lsst.afw.image.ExposureI"),
    "ExposureU": ("Exposure", "lsst.afw.image.ExposureU"),
    "ImageD": ("Image", "lsst.afw.image.ImageD"),
    "ImageF": ("Image", "lsst.afw.image.ImageF"),
    "ImageI": ("Image", "lsst.afw.image.ImageI"),
    "ImageU": ("Image", "lsst.afw.image.ImageU"),
    "int": ("Integer", "int"),
    "Mask": ("Image", "lsst.afw.image.Mask"),
    "MaskedImage": ("Exposure", "lsst.afw.image.MaskedImage"),
    "MaskedImageD": ("Exposure", "lsst.afw.image.MaskedImageD"),
    "MaskedImageF": ("Exposure", "lsst.afw.image.MaskedImageF"),
    "MaskedImageI": ("Exposure", "lsst.afw.image.MaskedImageI"),
    "MaskedImageU": ("Exposure", "lsst.afw.image.MaskedImageU"),
    "MaskX": ("Image", "lsst.afw.image.MaskX"),
    "Packages": ("StructuredDataDict", "lsst.utils.packages.Packages"),
    "PeakCatalog": ("AstropyTable", "lsst.afw.detection.PeakCatalog"),
    "SimpleCatalog": ("AstropyTable", "lsst.afw.table.SimpleCatalog"),
    "SourceCatalog": ("AstropyTable", "lsst.afw.table.SourceCatalog"),
    "TaskMetadata": ("StructuredDataDict", "lsst.pipe.base.TaskMetadata"),
    "Thumbnail": ("NumpyArray", "numpy.ndarray"),
    "ApCorr": ("", "lsst.afw.image.ApCorrMap"),
    "ArrowAstropySchema": ("", "lsst.daf.butler.formatters.parquet.ArrowAstropySchema"),
    "ArrowNumpyDict": ("", "dict"),
    "ArrowNumpySchema": ("", "lsst.daf.butler.formatters.parquet.ArrowNumpySchema"),
    "ArrowSchema": ("", "pyarrow.Schema"),
    "AstropyUnit": ("", "astropy.units.UnitBase"),
    "Background": ("", "lsst.afw.math.BackgroundList"),
    "BackgroundMap": ("", "lsst.images.BackgroundMap"),
    "Bounds": ("", "lsst.images.Bounds"),
    "Box2I": ("", "lsst.geom.Box2I"),
    "BoxV2": ("", "lsst.images.Box"),
    "BrighterFatterKernel": ("", "lsst.ip.isr.BrighterFatterKernel"),
    "ButlerLogRecords": ("", "lsst.daf.butler.ButlerLogRecords"),
    "CellCoadd": ("", "lsst.images.cells.CellCoadd"),
    "CellCoaddProvenance": ("", "lsst.images.cells.CoaddProvenance"),
    "CellPointSpreadFunction": ("", "lsst.images.cells.CellPointSpreadFunction"),
    "CoaddInputs": ("", "lsst.afw.image.CoaddInputs"),
    "ColorImage": ("", "lsst.images.ColorImage"),
    "Config": ("", "lsst.pex.config.Config"),
    "ConvolutionKernel": ("", "lsst.images.convolution_kernels.ConvolutionKernel"),
    "CrosstalkCalib": ("", "lsst.ip.isr.CrosstalkCalib"),
    "DataFrameIndex": ("", "pandas.Index"),
    "DataFrameSchema": ("", "lsst.daf.butler.formatters.parquet.DataFrameSchema"),
    "Defects": ("", "lsst.ip.isr.Defects"),
    "DetectorV2": ("", "lsst.images.cameras.Detector"),
    "DifferenceImage": ("", "lsst.images.DifferenceImage"),
    "ExposureSummaryStats": ("", "lsst.afw.image.ExposureSummaryStats"),
    "ExtendedPsfCandidates": ("", "lsst.pipe.tasks.extended_psf.ExtendedPsfCandidates"),
    "ExtendedPsfImage": ("", "lsst.pipe.tasks.extended_psf.ExtendedPsfImage"),
    "Extent2I": ("", "lsst.geom.Extent2I"),
    "FiberSpectrum": ("", "lsst.obs.fiberspectrograph.FiberSpectrum"),
    "FilterLabel": ("", "lsst.afw.image.FilterLabel"),
    "FocalPlaneBackground": ("", "lsst.pipe.tasks.background.FocalPlaneBackground"),
    "HealSparseCoverage": ("", "healsparse.HealSparseCoverage"),
    "HealSparseMap": ("", "healsparse.HealSparseMap"),
    "ImageField": ("", "lsst.images.fields.BaseField"),
    "ImageV2": ("", "lsst.images.Image"),
    "IsrCalib": ("", "lsst.ip.isr.IsrCalib"),
    "Linearizer": ("", "lsst.ip.isr.Linearizer"),
    "LsstScarletModelData": ("", "lsst.meas.extensions.scarlet.io.LsstScarletModelData"),
    "MaskedImageV2": ("", "lsst.images.MaskedImage"),
    "MaskV2": ("", "lsst.images.Mask"),
    "MatchingKernel": ("", "lsst.afw.math.Kernel"),
    "MetricMeasurementBundle": ("", "lsst.analysis.tools.interfaces.MetricMeasurementBundle"),
    "MetricValue": ("", "lsst.verify.Measurement"),
    "MultipleCellCoadd": ("", "lsst.cell_coadds.MultipleCellCoadd"),
    "NNModelPackagePayload": ("", "lsst.meas.transiNet.modelPackages.formatters.NNModelPackagePayload"),
    "ObjectMaskCatalog": ("", "lsst.pipe.tasks.objectMasks.ObjectMaskCatalog"),
    "ObservationInfo": ("", "astro_metadata_translator.ObservationInfo"),
    "ObservationSummaryStats": ("", "lsst.images.ObservationSummaryStats"),
    "PhotoCalib": ("", "lsst.afw.image.PhotoCalib"),
    "PhotonTransferCurveDataset": ("", "lsst.ip.isr.PhotonTransferCurveDataset"),
    "PhotozModel": ("", "rail.core.model.Model"),
    "Plot": ("", "matplotlib.figure.Figure"),
    "Point2I": ("", "lsst.geom.Point2I"),
    "PointSpreadFunction": ("", "lsst.images.psfs.PointSpreadFunction"),
    "Polygon": ("", "lsst.afw.geom.Polygon"),
    "PropertyList": ("", "lsst.daf.base.PropertyList"),
    "PropertySet": ("", "lsst.daf.base.PropertySet"),
    "ProvenanceQuantumGraph": ("", "lsst.pipe.base.quantum_graph.ProvenanceQuantumGraph"),
    "Psf": ("", "lsst.afw.detection.Psf"),
    "PZModel": ("", "rail.core.model.Model"),
    "QECurve": ("", "lsst.meas.algorithms.Curve"),
    "QPEnsemble": ("", "qp.Ensemble"),
    "RegionTimeInfo": ("", "lsst.pipe.base.utils.RegionTimeInfo"),
    "ScarletModelData": ("", "lsst.scarlet.lite.io.ScarletModelData"),
    "SkyMap": ("", "lsst.skymap.BaseSkyMap"),
    "SkyProjection": ("", "lsst.images.SkyProjection"),
    "SpectractorFitParameters": ("", "spectractor.fit.fitter.FitParameters"),
    "SpectractorImage": ("", "spectractor.extractor.images.Image"),
    "SpectractorSpectrum": ("", "spectractor.extractor.spectrum.Spectrum"),
    "SSPAuxiliaryFile": ("", "lsst.pipe.tasks.sspAuxiliaryFile.SSPAuxiliaryFile"),
    "Stamps": ("", "lsst.meas.algorithms.Stamps"),
    "StampsBase": ("", "lsst.meas.algorithms.stamps.StampsBase"),
    "StrayLightData": ("", "lsst.ip.isr.StrayLightData"),
    "TablePersistable": ("", "lsst.afw.table.io.Persistable"),
    "Timespan": ("", "lsst.daf.butler.Timespan"),
    "Transform": ("", "lsst.images.Transform"),
    "TransmissionCurve": ("", "lsst.afw.image.TransmissionCurve"),
    "VignettingCorrection": ("", "lsst.ts.observatory.control.utils.extras.vignetting_correction.VignettingCorrection"),
    "VisitBackgroundModel": ("", "lsst.drp.tasks.fit_visit_background.VisitBackgroundModel"),
    "VisitGeometry": ("", "lsst.obs.base.visit_geometry.VisitGeometry"),
    "VisitImage": ("", "lsst.images.VisitImage"),
    "VisitInfo": ("", "lsst.afw.image.VisitInfo"),
}


def reference_storage_class(name: str) -> StorageClass:
    """The storage class standing for the reference's ``name`` (see the module docstring)."""
    from skybutler.datasets._storage_class import storage_classes

    reads_as, reference_type = REFERENCE_STORAGE_CLASSES[name]
    if not reads_as:
        return StorageClass(
            name,
            "builtins:bytes",
            doc=f"The reference butler's {reference_type}; no reader here (opaque: bytes kept as they are).",
            reference_type=reference_type,
        )
    ours = storage_classes.get(reads_as)
    return StorageClass(
        name,
        ours.pytype,
        doc=f"The reference butler's {reference_type}, read as our {reads_as}.",
        components=ours.components,
        parameters=ours.parameters,
        converters=ours.converters,
        reads_as=reads_as,
        reference_type=reference_type,
    )


def __getattr__(name: str) -> StorageClass:
    if name in REFERENCE_STORAGE_CLASSES:
        return reference_storage_class(name)
    raise AttributeError(name)
