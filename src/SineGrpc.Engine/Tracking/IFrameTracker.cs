using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// A stream's memory of its objects together with the decoder that reads it: the one
/// place where a model kind's memory semantics meet its ONNX graphs. The encoder has
/// already run; a tracker never runs it again.
/// </summary>
internal interface IFrameTracker : IDisposable
{
    /// <summary>Tracked objects, increasing.</summary>
    IReadOnlyList<int> ObjectIds { get; }

    /// <summary>Approximate bytes of per-stream state.</summary>
    long MemoryBytes { get; }

    /// <summary>Adds an in-context reference (Segment): its masks become memory entries, nothing is predicted.</summary>
    Task AddReferenceAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber, CancellationToken cancellationToken);

    /// <summary>
    /// Stops tracking <paramref name="removedObjectIds"/>, anchors this frame's prompts, then
    /// predicts every tracked object on the frame. The removals wait until the frame has
    /// passed every check that can refuse it, so a refused frame leaves the memory as it was.
    /// </summary>
    Task<ObjectMaps> PredictAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, IReadOnlyList<int> removedObjectIds, int frameNumber, CancellationToken cancellationToken);

    /// <summary>Writes the frame's prediction, with the objects' scores, back to memory.</summary>
    Task RememberAsync(FeatureMap features, ObjectMaps maps, float[] scores, bool prompted, int frameNumber, CancellationToken cancellationToken);

    bool Remove(int objectId);

    /// <summary>The memory as a portable snapshot; null for a kind whose memory is not portable (dense).</summary>
    TokenMemoryState? CaptureMemory();
}
