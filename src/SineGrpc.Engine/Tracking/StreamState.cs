using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// All a stream of a token-memory model needs to go on elsewhere: its objects' memory and
/// how many frames it has processed (memory ages count them). A few KB per object, so a
/// client can keep the latest and resume on another server with nothing replayed. Dense
/// models have none: their memory holds whole feature maps.
/// </summary>
/// <param name="ModelVersion">The bundle's version: a state means nothing to other weights.</param>
public sealed record StreamState(string Model, string ModelVersion, int FramesProcessed, TokenMemoryState Memory);
