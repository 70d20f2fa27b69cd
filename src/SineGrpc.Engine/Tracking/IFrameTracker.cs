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
    void AddReference(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber);

    /// <summary>Anchors this frame's prompts, then predicts every tracked object on the frame.</summary>
    ObjectMaps Predict(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber);

    /// <summary>Writes the frame's prediction, with the objects' scores, back to memory.</summary>
    void Remember(FeatureMap features, ObjectMaps maps, ReadOnlySpan<float> scores, bool prompted, int frameNumber);

    bool Remove(int objectId);
}
