namespace SineGrpc.Client.Cli;

/// <summary>How two folders given on the command line relate, by their full paths (<c>..</c> and <c>.</c> resolved).</summary>
internal static class FolderPaths
{
    // Linux file names are case-sensitive; Windows and macOS ones usually are not.
    private static readonly StringComparison Comparison =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    public static bool AreSame(string a, string b) => string.Equals(Full(a), Full(b), Comparison);

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or somewhere under it.</summary>
    public static bool IsSameOrInside(string path, string folder)
    {
        var full = Full(path);
        var root = Full(folder);
        return string.Equals(full, root, Comparison) || full.StartsWith(root + Path.DirectorySeparatorChar, Comparison);
    }

    /// <summary>Creates an output folder; a failure names the option and the folder.</summary>
    public static void CreateOutput(string option, string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--{option} {folder}: cannot create the folder: {ex.Message}", ex);
        }
    }

    private static string Full(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
}
