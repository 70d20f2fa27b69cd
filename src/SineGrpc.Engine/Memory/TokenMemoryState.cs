namespace SineGrpc.Engine.Memory;

/// <summary>One entry of a token memory: an object's masked feature sum and area on one frame, with its score.</summary>
public sealed record TokenEntryState(float[] Sum, float Area, float Score, int FrameNumber);

/// <summary>One object's entries: its fixed anchor (when the policy keeps one) and its predictions, in memory order.</summary>
public sealed record TokenObjectState(int ObjectId, TokenEntryState? Anchor, IReadOnlyList<TokenEntryState> Recent);

/// <summary>
/// A token memory's whole content. Entries keep the order the memory holds them in, so a
/// memory restored from it builds the same ID tokens, bit for bit (float sums depend on
/// their order), and evicts the same entries.
/// </summary>
public sealed record TokenMemoryState(int Channels, MemoryPolicy Policy, IReadOnlyList<TokenObjectState> Objects);
