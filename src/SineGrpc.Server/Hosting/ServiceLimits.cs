using System.ComponentModel.DataAnnotations;

namespace SineGrpc.Server.Hosting;

/// <summary>Per-process limits that protect the server and its other clients, bound from "Limits".</summary>
public sealed class ServiceLimits : IValidatableObject
{
    public const string Section = "Limits";

    /// <summary>Track streams open at once; one more gets RESOURCE_EXHAUSTED.</summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentStreams { get; set; } = 16;

    /// <summary>Objects one stream (or one Segment call) may track.</summary>
    [Range(1, 65535)]
    public int MaxObjectsPerStream { get; set; } = 64;

    /// <summary>Pixels of one image or mask (default: 4K UHD, 3840 x 2160).</summary>
    [Range(1, long.MaxValue)]
    public long MaxFramePixels { get; set; } = 3840L * 2160;

    /// <summary>
    /// Mask pixels one Track frame or Segment call may hold, counted apart for the prompt
    /// masks it decodes (one per object at its image's size, but one for all the objects
    /// of an index mask whose ids fit a byte, which share it) and for the masks it answers
    /// (one per object at the output size, but one for all where masks cannot overlap: the
    /// index layout, or a model whose objects compete for each pixel, as the embedded
    /// one's do; Segment also one semantic mask per label and its instances, except on such
    /// a model: two planes in all, then its instances). A frame holds a byte per decoded or
    /// answered mask pixel (Segment five per answered pixel on a SINE model without an
    /// instance head: it keeps each label's confidence for its instances) beside a few
    /// frame-sized planes, so this bounds what one frame costs in memory whatever its object
    /// count and size. The default, 2^26, holds 64 masks of their own at 720p, 32 at 1080p
    /// and 8 at 4K.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxMaskPixels { get; set; } = 1L << 26;

    /// <summary>Largest gRPC message, in bytes. The default holds a raw 4K RGB frame (about 25 MB) with room for its prompts.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Live-mode frames (and skipped-frame markers) one stream may have waiting.</summary>
    [Range(1, int.MaxValue)]
    public int LiveQueueCapacity { get; set; } = 32;

    /// <summary>Reference images one Segment call may carry.</summary>
    [Range(1, int.MaxValue)]
    public int MaxReferences { get; set; } = 16;

    /// <summary>
    /// Longest a Track stream waits on its client (for its next message, or to take a reply)
    /// before it ends with DEADLINE_EXCEEDED, freeing its slot and memory; 0 = no limit.
    /// </summary>
    [Range(0, 2592000)]
    public int StreamIdleTimeoutSeconds { get; set; } = 600;

    /// <summary>Segment calls at work at once; more wait their turn (see <see cref="SegmentGate"/>).</summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentSegmentCalls { get; set; } = 4;

    /// <summary>Segment calls that may wait for a turn; one more gets RESOURCE_EXHAUSTED at once.</summary>
    [Range(0, int.MaxValue)]
    public int MaxQueuedSegmentCalls { get; set; } = 16;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Below one full-size mask, the largest frames allowed could not carry one object.
        if (MaxMaskPixels < MaxFramePixels)
            yield return new ValidationResult(
                $"Limits:MaxMaskPixels ({MaxMaskPixels}) must be at least Limits:MaxFramePixels ({MaxFramePixels}): one object on the largest frame allowed needs that many",
                [nameof(MaxMaskPixels), nameof(MaxFramePixels)]);
    }
}
