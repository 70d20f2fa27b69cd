namespace SineGrpc.Client.Tests.Support;

/// <summary>The project's real test data, which lives beside the repository in ../shared/data.</summary>
internal static class SharedData
{
    /// <summary>A path under shared/data; fails the test with a clear message when the folder is missing.</summary>
    public static string Path(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(candidate))
            {
                return System.IO.Path.Combine([candidate, .. parts]);
            }
        }
        Assert.Fail("This test needs the project's shared data in ../shared/data beside the repository (CI always has it).");
        return "";
    }
}
